"""HTTP routes: tracking (pixel, click), unsubscribe, API, health and metrics."""
