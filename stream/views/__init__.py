"""Whole-topic views that every process needs: the patients directory, the cluster-wide alerts
board and the followers behind them (the worker, the console, the gateway and the CLI read them;
none of them imports another's room to do so)."""
