"""``python -m polyvox.sip.agent``: the trunks agent role (docs/sip-agent.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from polyvox import config
from polyvox.db.engine import make_engine
from polyvox.platform import proxy_settings as sip_settings
from polyvox.sip.agent.agent import Agent, AgentSettings


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m polyvox.sip.agent",
                                description="OPTIONS pinging of carrier servers and DDI provider registrations")
    p.add_argument("--database-url", help="default POLYVOX_DATABASE_URL / the standalone SQLite file")
    p.add_argument("--host", help="address to send from: proxy-trunks' (POLYVOX_SIP_HOST)")
    p.add_argument("--trunks-port", type=int, help="proxy-trunks' port for the Contact (POLYVOX_SIP_TRUNKS_PORT)")
    p.add_argument("--contact-host", help="address in the Contact (POLYVOX_SIP_ADVERTISE, else --host)")
    p.add_argument("--interval", type=float, default=float(env("POLYVOX_SIP_PING_INTERVAL", "30")))
    p.add_argument("--ping-timeout", type=float, default=float(env("POLYVOX_SIP_PING_TIMEOUT", "5")))
    p.add_argument("--poll", type=float, default=float(env("POLYVOX_SIP_AGENT_POLL", "1")))
    p.add_argument("--register-timeout", type=float, default=float(env("POLYVOX_SIP_REG_TIMEOUT", "8")))
    p.add_argument("--retry-min", type=float, default=float(env("POLYVOX_SIP_REG_RETRY_MIN", "5")))
    p.add_argument("--retry-max", type=float, default=float(env("POLYVOX_SIP_REG_RETRY_MAX", "300")))
    p.add_argument("--default-expires", type=int, default=int(env("POLYVOX_SIP_REG_DEFAULT_EXPIRES", "3600")))
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = config.load()
    url = args.database_url or base.database_url
    ts = sip_settings.trunks_from_env(base.home, url, base.api_host)
    host = args.host or ts.host
    settings = AgentSettings(host=host, contact_host=args.contact_host or ts.advertise or host,
                             contact_port=args.trunks_port or ts.port, interval=args.interval,
                             ping_timeout=args.ping_timeout, poll=args.poll, register_timeout=args.register_timeout,
                             retry_min=args.retry_min, retry_max=args.retry_max,
                             default_expires=args.default_expires)
    engine = make_engine(url)

    async def run() -> None:
        agent = Agent(engine, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stop)
        await agent.run()

    try:
        asyncio.run(run())
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
