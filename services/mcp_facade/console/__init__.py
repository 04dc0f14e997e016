"""The admin console: server-rendered pages on the admin port over the management API.

`attach_console(app)` (console/mount.py) adds the pages under /console/ to the admin app;
`preview` holds the scope preview the management API serves as `POST /catalog/preview`.
"""
