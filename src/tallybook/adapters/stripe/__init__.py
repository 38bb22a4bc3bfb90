"""The Stripe adapter (``ports.PaymentProvider``) over the official ``stripe`` SDK, an
optional extra: ``pip install 'tallybook[stripe]'``. Imported only when Stripe is
configured (``TALLYBOOK_STRIPE_API_KEY``)."""
