"""Pure launch-decision rules of the campaign manager."""
