"""The application server (Polyvox's own B2BUA): ``plan`` (the contract), ``runtime`` (SIP: sippy
bridge, legs, executor, workers; docs/appserver.md) and ``dialplan`` (the call logic)."""
