"""Sign in as a demo account and print its access token, for calls made by hand:

    .venv/bin/python -m tools.token ada@example.com            # a demo customer (see tools/demo_data.py)
    .venv/bin/python -m tools.token admin@shop.example         # the staff admin
    TOKEN=$(.venv/bin/python -m tools.token ada@example.com)
    grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{}' \
        localhost:9005 ordering.v1.OrderService/ListCustomerOrders

It signs in through profiling's Authenticate (PROFILING_ADDR, by default the port `make up` uses), as
the storefront or the back-office would, with the password the demo data gave the account: the token
is a real one, valid for a few minutes (run the command again for another).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc
from profiling.v1 import profile_service_pb2 as profile

from tools.demo_data import ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMERS, sign_in


def main() -> None:
    accounts = {email: password for email, password, *_ in CUSTOMERS}
    parser = argparse.ArgumentParser(description="Print an access token of a demo account.")
    parser.add_argument("email", help=f"one of {', '.join([*accounts, ADMIN_EMAIL])}")
    email = parser.parse_args().email.strip().lower()
    if email == ADMIN_EMAIL:
        password, kind = ADMIN_PASSWORD, profile.ACCOUNT_KIND_STAFF
    elif email in accounts:
        password, kind = accounts[email], profile.ACCOUNT_KIND_CUSTOMER
    else:
        parser.error(f"{email!r} is not a demo account; use one of {', '.join([*accounts, ADMIN_EMAIL])}")
    try:
        answer = asyncio.run(sign_in(email, password, kind))
    except grpc.aio.AioRpcError as exc:
        sys.exit(f"token: profiling answered {exc.code().name}: {exc.details()} (is `make up` running, "
                 "with the demo data loaded?)")
    print(answer.access_token)


if __name__ == "__main__":
    main()
