// Forking a study: a new study that starts with the finished trials of an earlier one whose
// results the new config would reproduce, so that a changed objective, sampler or search space
// keeps what was already trained instead of training it again.
#pragma once

#include <string>
#include <vector>

#include "cusweep/config.h"
#include "cusweep/runner.h"
#include "study_store.h"

namespace cusweep {

struct ForkedTrials {
  // Numbered 0, 1, ... in the source's order, named for the new study, with objectives
  // recomputed by the new config's objective; location "fork:<source trial name>".
  std::vector<TrialRecord> trials;
  std::string summary;  // "carried 37 of 40 trials of WHERE; left out: ..." for the log
  std::string source;   // WHERE
  // The source study's data contents (data_digest) as it recorded them; "" when it did not.
  std::string data_content;
};

// The TERMINATED and PRUNED trials of the study in `source` that are trials of `config`: their
// values lie in its search space (a parameter the source did not search takes the value the
// trial trained with) and give exactly the model and training settings they were trained with.
// Their recorded metrics are then what `config` would measure: they are carried with the
// objective recomputed (metrics `config` does not compute are dropped). UserError when the
// source holds no study, measured other data (or another benchmark function), lacks a metric
// `config` needs, or carries more trials than config.n_trials.
ForkedTrials fork_trials(const SweepConfig& config, const std::string& tag, StudyStore& source);

}  // namespace cusweep
