"""Exercise 004 in Dagster: its four jobs and schedules on top of this tidegate project.

    pip install 'tidegate[dagster]'
    dagster dev -f definitions.py

One asset per target (grouped by source: customers, products, transactions with its
delivery addresses and purchases, erasure_requests), the view revenue_by_day, a sensor on
landing/, the contract's checks, and the schedules of tidegate.yml: customers and
transactions hourly at minute 0, products daily at 00:00, erasure daily at 01:00
(Europe/Zagreb). TIDEGATE_SECRET and TIDEGATE_VAULT_KEY come from the environment or .env.
"""

from pathlib import Path

from tidegate.dagster import definitions

defs = definitions(Path(__file__).parent)
