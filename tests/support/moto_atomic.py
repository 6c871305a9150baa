"""moto_server with DynamoDB's atomicity.

DynamoDB applies each write to an item atomically: a conditional PutItem or UpdateItem sees the item
as the last write left it, so of two racing conditional writes at most one can pass a condition the
other makes false. moto_server answers requests on threads and checks a condition and writes without
a lock, so two racing writes can both pass: it is more lenient than the service. This runs
moto_server with every DynamoDB backend call taken one at a time, which is at least as strict.

Usage: python moto_atomic.py [moto_server's arguments]
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_ONE_AT_A_TIME = threading.RLock()

for _name in (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "transact_write_items",
    "transact_get_items",
):
    _method = getattr(DynamoDBBackend, _name, None)
    if _method is None:
        raise SystemExit(f"moto's DynamoDB backend has no {_name}: update tests/support/moto_atomic.py")

    def _serialised(method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            with _ONE_AT_A_TIME:
                return method(*args, **kwargs)

        return call

    setattr(DynamoDBBackend, _name, _serialised(_method))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
