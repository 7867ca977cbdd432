"""The method and everything that knows no track. A track imports the core; the core
imports no track."""
