/* vpanel portal: copy buttons, confirmations and the ALTCHA proof-of-work solver. No dependencies. */
(function () {
  "use strict";

  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* Find n with SHA-256(salt + n) == challenge; returns the base64 payload the server verifies. */
  async function solveAltcha(challenge) {
    for (let n = 0; n <= challenge.maxNumber; n++) {
      if ((await sha256Hex(challenge.salt + n)) === challenge.challenge) {
        return btoa(JSON.stringify({
          algorithm: challenge.algorithm, challenge: challenge.challenge,
          number: n, salt: challenge.salt, signature: challenge.signature,
        }));
      }
    }
    throw new Error("captcha not solvable");
  }

  function setupAltcha() {
    const status = document.getElementById("altcha-status");
    const field = document.getElementById("altcha-field");
    if (!status || !field) return;
    const form = field.form;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    window.vpanelCaptcha = solveAltcha(JSON.parse(status.dataset.challenge)).then((payload) => {
      field.value = payload;
      status.textContent = status.dataset.done;
      submit.disabled = false;
      return payload;
    });
  }

  function setupCopy() {
    document.querySelectorAll("button[data-copy-target]").forEach((button) => {
      button.addEventListener("click", async () => {
        const input = document.getElementById(button.dataset.copyTarget);
        const original = button.textContent;
        try {
          await navigator.clipboard.writeText(input.value);
        } catch (e) {
          input.select();
          document.execCommand("copy");
        }
        button.textContent = button.dataset.copied;
        setTimeout(() => { button.textContent = original; }, 2000);
      });
    });
  }

  function setupConfirm() {
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
        form.querySelector("input[name=confirm]").value = "yes";
      });
    });
  }

  setupAltcha();
  setupCopy();
  setupConfirm();
})();
