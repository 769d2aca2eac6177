"""Bad input, tried as an attacker and a careless operator would: nothing lost, no traceback."""
