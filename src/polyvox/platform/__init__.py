"""Runtime services every role's process may use: the proxies' settings, the proxies' control
client, the clock. Below the roles (so any role, ``supervisor`` and ``cli`` may import it), above
storage (``db`` and ``domain`` never import it); see docs/layers.md."""
