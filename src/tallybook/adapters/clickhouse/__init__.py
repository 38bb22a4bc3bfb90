"""Raw events on ClickHouse (issue 15): the table, its two executors (chDB in-process,
clickhouse-connect for a server), the usage reader and the shipper from PostgreSQL.
Needs the optional extra ``tallybook[clickhouse]``; see ``docs/scaling.md``."""
