"""moto_server with DynamoDB's atomicity.

DynamoDB applies each write to an item atomically: a conditional PutItem or UpdateItem sees the item
as the last write left it, so of two racing conditional writes at most one can pass a condition the
other makes false. moto_server answers requests on threads and checks a condition and writes without
a lock, so two racing writes can both pass: it is more lenient than the service. This runs
moto_server with every DynamoDB backend call taken one at a time, which is at least as strict.

It also makes moto's TransactWriteItems as strict as the service, and as cheap as the items it
touches. DynamoDB refuses a transaction whose items come to more than 4 MB, which moto lets
through. And moto keeps a deep copy of each table a transaction names, once per action, to roll
back to: a transaction of 100 actions on a table of 2,000 items took seconds. Here a transaction
runs against a stand-in table holding copies of only the items it names, and what it wrote is put
back into the real table when it commits; a cancelled one leaves the real table as it was, so
moto's own copy to roll back to is not needed (the stand-in is its own copy). The same
all-or-nothing outcome and the same conditions, at the cost of the transaction's own items.

And it parses each condition expression once: moto parses an expression anew for every item it
checks (three times per item of a transaction: to validate the request, then to check it), which
was most of its time for a transaction of 100. A parse depends only on the expression, its names
and its values, so equal ones share it; one that fails is not kept, so its error comes as before.

Usage: python moto_atomic.py [moto_server's arguments]
"""

import copy
import functools
import json
import sys
import threading
from collections import defaultdict

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.server import main

# DynamoDB's limit on the items of one transaction.
TRANSACTION_BYTES = 4 * 1024 * 1024

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


def _value_bytes(value):
    """A value's size as moto counts it (strings and numbers counted here, the rest by moto)."""
    if len(value) == 1:
        if "S" in value and isinstance(value["S"], str):
            return len(value["S"].encode())
        if "N" in value and isinstance(value["N"], str):
            return len(value["N"])
    return DynamoType(value).size()


def _item_bytes(attributes):
    """An item's size as DynamoDB counts it: its attribute names and values."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in attributes.items())


def _transaction_bytes(transact_items):
    """A transaction's size as DynamoDB limits it: a Put's whole item, the key of any other action."""
    size = 0
    for action in transact_items:
        for kind, operation in action.items():
            if not isinstance(operation, dict):
                continue
            attributes = operation.get("Item") if kind == "Put" else operation.get("Key")
            if isinstance(attributes, dict):
                size += _item_bytes(attributes)
    return size


def _keys_touched(backend, transact_items):
    """{table name: [(hash, range, kind)]} of a transaction's actions, or None when an action is
    not well formed (moto's own checks then say why)."""
    touched = defaultdict(list)
    try:
        for action in transact_items:
            ((kind, operation),) = action.items()
            table = backend.tables[operation["TableName"]]
            key = operation["Item"] if kind == "Put" else operation["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            touched[operation["TableName"]].append((hash_key, range_key, kind))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return touched


def _lookup(table, hash_key, range_key):
    if range_key is None:
        return table.items.get(hash_key)
    return table.items.get(hash_key, {}).get(range_key)


def _place(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


_moto_transact_write_items = DynamoDBBackend.transact_write_items


@functools.wraps(_moto_transact_write_items)
def _transact_write_items(self, transact_items):
    with _ONE_AT_A_TIME:
        if _transaction_bytes(transact_items) > TRANSACTION_BYTES:
            raise MockValidationException("Transaction request cannot be larger than 4 MB")
        touched = _keys_touched(self, transact_items) if len(transact_items) <= 100 else None
        if touched is None:
            return _moto_transact_write_items(self, transact_items)
        whole = {name: self.tables[name] for name in touched}
        for name, keys in touched.items():
            part = copy.copy(whole[name])
            part.items = defaultdict(dict)
            # copy.deepcopy asks the object itself: the stand-in is its own copy.
            part.__deepcopy__ = lambda memo, part=part: part
            for hash_key, range_key, kind in keys:
                found = _lookup(whole[name], hash_key, range_key)
                if found is not None:
                    # Only an Update changes an item in place; the others replace or remove it.
                    _place(part, hash_key, range_key, copy.deepcopy(found) if kind == "Update" else found)
            self.tables[name] = part
        try:
            result = _moto_transact_write_items(self, transact_items)
            for name, keys in touched.items():
                for hash_key, range_key, _ in keys:
                    item = _lookup(self.tables[name], hash_key, range_key)
                    _place(whole[name], hash_key, range_key, item)
            return result
        finally:
            self.tables.update(whole)


DynamoDBBackend.transact_write_items = _transact_write_items


def _key(expression, names, values):
    key = (expression, tuple(sorted((names or {}).items())), json.dumps(values or {}, sort_keys=True))
    hash(key)
    return key


def _parsing_once(parse):
    """get_filter_expression(expression, names, values), each parse kept."""

    @functools.lru_cache(maxsize=4096)
    def parsed(expression, names, values):
        return parse(expression, dict(names), json.loads(values))

    @functools.wraps(parse)
    def parse_once(expression, names, values):
        try:
            key = _key(expression, names, values)
        except (TypeError, ValueError, AttributeError):
            return parse(expression, names, values)
        return parsed(*key)

    return parse_once


class _Parsed:
    """A condition parser that has parsed: parse() again gives the same, at no cost."""

    def __init__(self, parser, result):
        self._parser = parser
        self._result = result

    def parse(self):
        return self._result

    def __getattr__(self, name):
        return getattr(self._parser, name)


def _validating_once(create):
    """create_condition_expression_parser, for requests that parse once and read what was found."""

    @functools.lru_cache(maxsize=4096)
    def parsed(expression, names, values):
        parser = create(expression, dict(names), json.loads(values))
        return _Parsed(parser, parser.parse())

    @functools.wraps(create)
    def create_once(expression, names, values):
        try:
            return parsed(*_key(expression, names, values))
        except Exception:  # noqa: BLE001 - a fresh parser raises it again where moto expects
            return create(expression, names, values)

    return create_once


import moto.dynamodb.models as _models  # noqa: E402
import moto.dynamodb.models.table as _table  # noqa: E402
import moto.dynamodb.responses as _responses  # noqa: E402

_models.get_filter_expression = _parsing_once(_models.get_filter_expression)
_table.get_filter_expression = _parsing_once(_table.get_filter_expression)
_responses.create_condition_expression_parser = _validating_once(
    _responses.create_condition_expression_parser
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
