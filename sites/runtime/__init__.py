"""The web runtime both sites share (the storefront on 9000, the back-office on 9010).

| module | what it gives a site |
|---|---|
| `settings.py` | `SiteSettings.load(name, calls=[...])`: the service settings plus the cookie secret, fail fast |
| `sessions.py` | a signed cookie holding a session id; the person's data stays on the server |
| `calls.py` | `Calls`: the services' stubs, each call made as the session's person (`signed_in`: their token) |
| `pages.py` | templates, block rendering for htmx, error pages (404, 4xx, 503) |
| `formats.py` | money and moments in the site's locale |
| `live.py` | one Kafka consumer per site process, fanned out to the open pages (SSE) |
| `app.py` | `make_site(...)`: the FastAPI app with all of the above wired in order |
"""
