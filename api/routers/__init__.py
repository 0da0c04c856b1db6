"""One router per resource; each checks the caller against :data:`api.auth.PERMISSIONS`."""
