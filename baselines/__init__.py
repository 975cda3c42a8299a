"""Rule-based policies that learned policies are compared with."""

from baselines.echelon import echelon_base_stock_orders

__all__ = ["echelon_base_stock_orders"]
