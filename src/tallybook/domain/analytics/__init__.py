"""Revenue analytics, usage statistics and experiment assignment (pure, standard library).

``months``       calendar months (``YYYY-MM``) and their UTC edges
``stats``        ``percentile_cont`` (linear interpolation) and means over decimals
``mrr``          committed MRR of a subscription, monthly MRR movements
``retention``    NRR/GRR/churn of a cohort, LTV, CAC, forecasts
``experiments``  the sticky hash assignment of a customer to an arm

Definitions, with worked numbers, are in docs/analytics.md.
"""
