"""A fresh PostgreSQL database per test on the machine's server (127.0.0.1:5432,
trust auth, database `test` to connect to), dropped afterwards, also when the
test fails. Import the fixture into a test module to use it."""

import os
import uuid

import pytest

ADMIN_URI = os.environ.get("BRIDGE_SEARCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test")


def _admin():
    import psycopg2
    connection = psycopg2.connect(ADMIN_URI, connect_timeout=5)
    connection.autocommit = True  # CREATE/DROP DATABASE refuse a transaction
    return connection


@pytest.fixture
def postgres_store():
    """A store URI postgresql://USER@HOST/bs_test_<uuid> on an empty database."""
    name = f"bs_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    try:
        yield ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    finally:
        # FORCE: a server or worker the test left behind may still hold a connection.
        admin = _admin()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
