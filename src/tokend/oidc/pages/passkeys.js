// Passkey ceremonies (WebAuthn) for the login and account pages: a form marked
// data-passkey="create" or "get" runs navigator.credentials with the options the server put
// in <script type="application/json" id="passkey-options">, then posts the browser's answer
// (JSON in the hidden "credential" field) as an ordinary form. No other script runs.
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

  async function get(publicKey) {
    publicKey.challenge = toBytes(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    const credential = await navigator.credentials.get({ publicKey });
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

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    const problem = form.querySelector("[data-passkey-problem]");
    if (!window.PublicKeyCredential) {
      form.hidden = true;
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const publicKey = options();
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
      }
    });
  });
})();
