"""Evidence for thresholds: score labeled data (``tune``) and replay recorded traffic
through two policies (``replay``). Offline tools; nothing here runs inside the proxy."""
