"""The local dashboard (``mtls-doctor serve``) and the HTML pieces the report shares with it."""
