// Progress of a triage job: poll /jobs/<id>/status until it is done, then open the result (or show the refusal).
(function () {
  var box = document.getElementById("job");
  if (!box) { return; }
  var id = box.getAttribute("data-job");
  function poll() {
    fetch("/jobs/" + id + "/status", {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        document.getElementById("progress").value = s.fraction;
        document.getElementById("stage").textContent = "Stage: " + s.stage + " (" + Math.round(s.fraction * 100) + " %)";
        if (s.state === "done") { window.location.href = "/results/" + id; return; }
        if (s.state === "refused" || s.state === "failed") {
          var e = document.getElementById("job-error");
          e.textContent = (s.state === "refused" ? "The triage was refused: " : "") + s.message;
          e.hidden = false;
          document.getElementById("stage").textContent = "Stopped.";
          return;
        }
        setTimeout(poll, 500);
      })
      .catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
