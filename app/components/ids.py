"""Ids shared between the app shell and the pages."""

KEY_STORE = "analysis-key"   # dcc.Store (session) with the current analysis key: a string, never arrays
NAV_LOCATION = "nav-url"     # dcc.Location(refresh="callback-nav") that callbacks write to navigate
