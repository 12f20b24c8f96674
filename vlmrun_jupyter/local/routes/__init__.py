"""The local server's routes, one module per group of the wire protocol (`completions`,
`executions`, `files`, `artifacts`) plus the test-only `control` routes; `common` holds
what they share (state, auth, errors) and `inputs` turns request inputs into media."""
