"""Documents: the catalog document models and invoice JSON, view, HTML and PDF rendering,
shared by the API, the portal and the CLI."""
