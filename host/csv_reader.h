// The CSV reader behind read_csv, with what load_data needs besides the Dataset: the class
// names (empty when labels were integers), each row's line number and the feature columns'
// names. Internal: the public header keeps the simple read_csv.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cusweep/dataset.h"

namespace cusweep {
namespace internal {

Dataset read_csv_detailed(const std::string& path, bool header, const std::string& label_column,
                          std::vector<std::string>* class_names, std::vector<int64_t>* row_lines,
                          std::vector<std::string>* feature_names);

}  // namespace internal
}  // namespace cusweep
