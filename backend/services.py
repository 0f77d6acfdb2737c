"""Services: everything requests use, built once per app from the settings and kept as ONE
typed value on app.state (routes reach it through backend.routes.deps)."""

from dataclasses import dataclass
from datetime import timedelta

from backend.clock import utcnow
from backend.config import Settings
from backend.database.admission import Admission
from backend.database.engine import create_db_engine
from backend.database.units import Database
from backend.idempotency import store as idempotency_store
from backend.idempotency.requests import KeyedWrites
from backend.idempotency.store import Keys
from backend.identity.accounts import Accounts, Throttles
from backend.identity.passwords import Hasher
from backend.identity.tokens import TokenVerifier
from backend.purges import Purges
from backend.tasks import feed
from backend.tasks.cursors import FeedCursors, ListCursors
from backend.tasks.quotas import Quotas


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    verifier: TokenVerifier
    hasher: Hasher
    accounts: Accounts
    quotas: Quotas
    writes: KeyedWrites
    list_cursors: ListCursors
    feed_cursors: FeedCursors
    purges: Purges

    @classmethod
    def from_settings(cls, settings: Settings) -> "Services":
        admission = Admission(
            settings.db_pool_size,
            max_in_flight=settings.user_max_in_flight,
            wait_seconds=settings.user_wait_seconds,
            heavy_slots=settings.heavy_slots,
            heavy_unit_seconds=settings.heavy_unit_ms / 1000,
        )
        db = Database(create_db_engine(settings), admission, settings.db_request_deadline_seconds)
        hasher = Hasher(settings.password_hash_workers)
        accounts = Accounts(
            db, hasher, Throttles.from_settings(settings), device_ttl=settings.device_token_ttl
        )
        keys = Keys(
            ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
            max_per_user=settings.idempotency_max_keys_per_user,
        )
        secret = settings.better_auth_secret.get_secret_value().encode()

        async def purge_feed() -> int:
            now, days = utcnow(), settings.feed_retention_days
            return await db.core_unit(lambda connection: feed.purge(connection, now, days))

        purges = Purges(
            {
                "accounts": accounts.purge_expired,
                "idempotency keys": lambda: db.core_unit(idempotency_store.purge_expired),
                "feed tombstones": purge_feed,
            }
        )
        return cls(
            settings=settings,
            db=db,
            verifier=TokenVerifier(settings),
            hasher=hasher,
            accounts=accounts,
            quotas=Quotas(settings.max_tasks_per_user, settings.max_tags_per_user),
            writes=KeyedWrites(db, keys),
            list_cursors=ListCursors(secret),
            feed_cursors=FeedCursors(secret),
            purges=purges,
        )

    async def close(self) -> None:
        self.hasher.close()
        await self.verifier.aclose()
        self.db.dispose()
