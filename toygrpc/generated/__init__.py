"""Code generated from proto/ by ``toygrpc gen``: do not edit, regenerate."""
