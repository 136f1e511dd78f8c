"""What each ``tls_verify_status`` value means, and how to fix it."""
