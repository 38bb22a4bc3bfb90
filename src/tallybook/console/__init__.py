"""The operator console at ``/console``: server-rendered pages for RevOps (issue 14).

An entrypoint like ``tallybook.portal``: pages read and act only through the services of
the container (no HTTP to itself), lists are searched and paginated in SQL by the
services' stores. ``routes`` holds login, logout and assets; each capability is one page
module (``overview``, ``customers``, ``invoices``, ``operations``) that registers its nav
entry in ``nav.NAV`` and exposes a ``router``; ``routes.PAGE_MODULES`` lists them, so
later pages (catalog and approvals, alerts, finance) slot in as new modules.
"""
