"""Users of an organisation as BridgX's console manages them (roles ADMIN / COMMON, enable / disable)."""
