"""Usage (billing): machine-seconds per day in the deployment's timezone."""
