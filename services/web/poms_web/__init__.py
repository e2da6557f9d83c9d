"""Web service: HTTP views over the shared state; actions become bus commands."""
