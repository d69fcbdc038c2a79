"""The operator console (``/console``) and the landing page (``/``): server-rendered pages over
the capabilities' own admin services, signed in through tokend's OpenID provider."""
