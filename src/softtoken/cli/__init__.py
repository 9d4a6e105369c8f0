"""The ``softtoken`` command: codes, Key URIs and QR codes, an app wallet, activation, migration,
and the issuer's administration.

The command is an edge of the library (ARCHITECTURE.md, layer 4), so it is the one place that may
read the clock, the terminal and files of the user's choosing. Everything it computes goes
through the public API. One module per command group:

- :mod:`~softtoken.cli.otp`: ``code``, ``verify`` and ``unlock-code`` (the bank's side of an
  unlock);
- :mod:`~softtoken.cli.uri`: ``uri`` and ``qr``;
- :mod:`~softtoken.cli.app`: ``app init/add/list/adopt/rename/delete/code/reset-code/unlock``,
  a phone authenticator's wallet;
- :mod:`~softtoken.cli.activation`: ``app activate`` (offline activation) and ``app scan`` and
  ``app scan-finish`` (QR activation), the app's side of activation;
- :mod:`~softtoken.cli.entrust`: ``entrust derive`` and ``entrust decrypt-qr``, the bank's side
  of Entrust-style legacy tokens, for migration only;
- :mod:`~softtoken.cli.issuer`: ``issuer init/create/assign/start-activation/verify/block/
  release/unlock-code/send-code/audit/rotate-keys`` and the rest, the bank's administration of
  tokens (its parser in ``_issuer_parser``; opening the database and reading codes in
  ``_issuer_session``);
- ``_main`` (the entry point and the one mapping from errors to messages), ``_args`` (the parser
  and argument types), ``_input`` (the clock, files, standard input), ``_common`` and ``_token``
  (the key and token options), ``_app_parser``, ``_wallet`` and ``_messages`` (the app group).

Promises:

- The key is never printed: not in results, not in errors, not in argparse's messages, not with
  ``--verbose``. Only ``softtoken uri`` (without ``--masked``), ``softtoken qr`` and
  ``softtoken entrust derive`` output a key, on purpose. PINs, codes and URIs given as input
  are never repeated either.
- Options are never abbreviated, and no argparse message repeats a value: messages that would
  quote one are rewritten without it, and unknown ones are replaced by a generic message.
- Inputs (``--key-file``, ``--uri-file``, ``--pin-file``, the code files and standard input)
  are read up to 64 KiB; a larger input is refused. A missing input file is named, unless its
  name looks like a key, a PIN, a code or a URI typed in the wrong place. Standard input serves
  one input at a time; asking it for two is a usage error.
- Every file the command writes is private: ``qr --output`` and ``--key-out`` replace the path
  with a new file of mode 0600 (:func:`softtoken.app.write_private`), never through a symbolic
  link, and ``--key-out`` never replaces an existing file. A new key (``--generate``) is never
  only drawn or masked: ``qr --generate`` and ``uri --generate --masked`` need ``--key-out``.
- ``softtoken verify`` exits 0 when the code is accepted, 1 when it is not, and 2 on bad usage
  or bad input. A refusal prints only "not accepted", never whether the code was wrong,
  replayed or outside the window (SECURITY.md S8).
- User errors give a one-line message on standard error and exit status 2, never a traceback;
  an interrupted command exits 130. No message is made by parsing an exception's text: the
  exception's class and attributes say what happened.
- ``softtoken app ...`` keeps an app wallet in a file through :class:`softtoken.app.WalletFile`:
  sealed under a 32-byte device key kept in another file, both readable by their owner only;
  changed under an exclusive lock; refused when an older copy was restored, by a version guard
  kept in ``<device key file>.version``. ``--wallet`` and ``--device-key-file`` default to
  ``$SOFTTOKEN_WALLET`` and ``$SOFTTOKEN_DEVICE_KEY_FILE``. PINs are read from standard input
  (with a hidden prompt on a terminal) or from ``--pin-file``, never from the command line, and
  are never printed. ``app code`` and ``app unlock`` store an open attempt before they check the
  PIN or the unlock code and store the result before they say anything, so interrupting the
  command never gives a free guess. They exit 0 on success, 1 when the PIN or the unlock code
  is not accepted (or the identity is locked or wiped), and 2 on bad usage or input. Each
  identity's policy (lock or wipe, PIN rules) is stored in the wallet: ``--profile`` sets it at
  ``app init`` (the wallet's default) and when an identity is made (``app add``, ``app
  activate``, ``app scan-finish``) only, and no option can weaken it.
- Activation codes, SMS passwords and the activation messages are read from files or standard
  input, never from the command line. ``app activate`` stores the new identity before it prints
  the registration code, and ``app scan`` stores the activation's private key before it prints
  the request.
"""

from __future__ import annotations

from softtoken.cli._main import main

__all__ = ["main"]
