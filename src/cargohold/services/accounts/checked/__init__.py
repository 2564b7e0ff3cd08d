"""Permission-checked use cases: each takes the `Principal` asking, checks its role
inside before it reads or changes anything, and raises `ServiceError`s (a package the
principal may not read is NotFound). The management API and the UI call these.

The modules beside this package are unchecked operations: their caller has checked the
permission already (the `/v2` route table) or is the operator (the `cargohold` CLI).
Operations never import from here."""
