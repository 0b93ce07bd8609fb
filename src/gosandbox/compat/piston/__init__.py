"""Piston's API (v2): its request and result shapes, its version ranges, its routes."""
