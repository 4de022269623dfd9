"""Adapters between screens and services that other parts of vpanel are still building.

Each adapter is the one place a screen calls such a service, so wiring the real
function in later touches one small module.
"""
