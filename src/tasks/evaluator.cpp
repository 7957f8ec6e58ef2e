#include "eshift/tasks/evaluator.h"

#include <cstring>
#include <stdexcept>

#include "eshift/tasks/task.h"

namespace eshift {

std::unique_ptr<TaskEvaluator> Task::evaluator(const DataSplit&) const {
  return std::make_unique<SumsEvaluator>(*this);
}

SumsEvaluator::SumsEvaluator(const Task& task) : task_(task), sums_(task.metrics()) {}

void SumsEvaluator::add(const ModelOutput& output, const Batch& batch) {
  task_.measure(output, batch, std::nullopt, sums_);
}

std::string SumsEvaluator::to_bytes() const {
  const auto totals = sums_.totals();
  return std::string(reinterpret_cast<const char*>(totals.data()), totals.size() * sizeof(double));
}

void SumsEvaluator::merge(const std::string& bytes) {
  auto totals = sums_.totals();
  if (bytes.size() != totals.size() * sizeof(double))
    throw std::runtime_error("an evaluation's sums from another process have " + std::to_string(bytes.size()) +
                             " bytes, not " + std::to_string(totals.size() * sizeof(double)));
  std::vector<double> theirs(totals.size());
  std::memcpy(theirs.data(), bytes.data(), bytes.size());
  for (size_t i = 0; i < totals.size(); ++i) totals[i] += theirs[i];
  sums_.set_totals(totals);
}

}  // namespace eshift
