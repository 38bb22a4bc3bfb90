"""Metering: meters as pure aggregation of events over exact windows."""
