// Passkey ceremonies (WebAuthn) for the login and account pages: a form marked
// data-passkey="create" or "get" runs navigator.credentials with the options the server put
// in <script type="application/json" id="passkey-options">, or with fresh ones fetched from
// its data-passkey-options URL, then posts the browser's answer (JSON in the hidden
// "credential" field) as an ordinary form. A "get" form marked data-passkey-conditional also
// offers the passkeys in the username field's autofill (WebAuthn L3 §5.1.4, conditional
// mediation, where the browser has it): the same form, the same answer. No other script runs.
"use strict";

(function () {
  function toBytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function toText(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function options() {
    const element = document.getElementById("passkey-options");
    return element ? JSON.parse(element.textContent) : null;
  }

  async function create(publicKey) {
    publicKey.challenge = toBytes(publicKey.challenge);
    publicKey.user.id = toBytes(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.create({ publicKey });
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toText(response.clientDataJSON),
        attestationObject: toText(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  }

  // A fresh challenge for the form (kept by the server in place of the last), else the page's.
  async function freshOptions(form) {
    const url = form.dataset.passkeyOptions;
    if (!url) return options();
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf_token: form.elements.csrf_token.value }),
    });
    if (!response.ok) throw new DOMException("no challenge", "NetworkError");
    return response.json();
  }

  async function get(publicKey, extra) {
    publicKey.challenge = toBytes(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.get(Object.assign({ publicKey }, extra || {}));
    const response = credential.response;
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toText(response.clientDataJSON),
        authenticatorData: toText(response.authenticatorData),
        signature: toText(response.signature),
        userHandle: response.userHandle ? toText(response.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  }

  // The pending conditional request: aborted before a modal one starts (one at a time).
  let conditional = null;

  async function startConditional(form) {
    if (!form.hasAttribute("data-passkey-conditional")) return;
    const available = PublicKeyCredential.isConditionalMediationAvailable;
    if (!available || !(await available.call(PublicKeyCredential))) return;
    const controller = new AbortController();
    conditional = controller;
    try {
      const publicKey = await freshOptions(form);
      if (controller.signal.aborted) return;
      const answer = await get(publicKey, { mediation: "conditional", signal: controller.signal });
      form.elements.credential.value = JSON.stringify(answer);
      form.submit();
    } catch (error) {
      // Aborted for the button, or the browser gave up: the form and the button still work.
    } finally {
      if (conditional === controller) conditional = null;
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    const problem = form.querySelector("[data-passkey-problem]");
    if (!window.PublicKeyCredential) {
      form.hidden = true;
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (conditional) conditional.abort();
      let publicKey;
      try {
        publicKey = await freshOptions(form);
      } catch (error) {
        publicKey = options(); // the server's page then says why (an expired sign-in, say)
      }
      if (!publicKey) return;
      try {
        const answer = form.dataset.passkey === "create" ? await create(publicKey) : await get(publicKey);
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      } catch (error) {
        if (problem) {
          problem.textContent = "The passkey was not used (" + error.name + "). Try again.";
          problem.hidden = false;
        }
        startConditional(form);
      }
    });
    startConditional(form);
  });
})();
