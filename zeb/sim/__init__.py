"""The simulated Vast marketplace: a seeded, clocked model (market.py, worker_log.py), an HTTP server in
the shape the `vastai` SDK speaks (server.py), scenarios (scenarios.py), and a tiny fake Hugging Face hub
(hub.py). zeb talks to it exactly as to Vast, through VAST_URL.

May import: zeb.core and itself (it stands where Vast would: zeb reaches it only over HTTP)."""
