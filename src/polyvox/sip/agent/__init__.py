"""The trunks agent (role ``trunks-agent`` of ``polyvox up``): OPTIONS pinging of carrier servers
and outbound registrations of DDI providers, from the proxy-trunks host (docs/sip-agent.md)."""
