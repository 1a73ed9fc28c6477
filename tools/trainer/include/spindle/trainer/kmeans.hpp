// spindle::trainer — the second kind of model: k-means on standardized healthy windows
// (k-means++ seeding, Lloyd iterations, best of several restarts by inertia). The score of
// a window is its squared distance to the nearest centroid (modelkit::FloatCentroids).
//
// Deterministic: the same data, options and seed give the same centroids.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/modelkit/centroids.hpp"
#include "spindle/trainer/feature_table.hpp"

namespace spindle::trainer {

struct KMeansOptions {
  std::size_t clusters = 12;
  std::size_t max_iterations = 100;
  std::size_t restarts = 4;
  std::uint32_t seed = 1;
};

struct TrainedCentroids {
  modelkit::FloatCentroids model;  // standardization included
  float inertia = 0.0f;            // mean squared distance of the training windows
  std::size_t iterations = 0;      // of the restart that was kept
};

// Throws std::invalid_argument for no clusters, fewer windows than clusters, or more
// clusters than a container takes.
TrainedCentroids train_kmeans(const FeatureTable& train,
                              const modelkit::Standardization& standardization,
                              const KMeansOptions& options);

}  // namespace spindle::trainer
