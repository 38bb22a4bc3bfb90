"""Payment-provider sync (issue 11): pushing final invoices (``push``), provider webhooks
(``webhook``) and reconciliation runs (``reconcile``), over ``ports.PaymentProvider``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tallybook.services.sync.push import SyncService
    from tallybook.services.sync.reconcile import ReconciliationService
    from tallybook.services.sync.webhook import ProviderWebhooks


@dataclass
class Payments:
    """One provider's services, wired by ``bootstrap`` when the provider is configured."""

    sync: SyncService
    webhooks: ProviderWebhooks
    reconciliation: ReconciliationService
