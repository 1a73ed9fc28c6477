#include "spindle/trainer/kmeans.hpp"

#include <Eigen/Dense>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace spindle::trainer {
namespace {

using Matrix = Eigen::MatrixXf;  // one column per window / centroid

// Squared distance from each column of x to its nearest centroid, and which one.
void assign(const Matrix& x, const Matrix& c, Eigen::VectorXf& distance, Eigen::VectorXi& nearest) {
  distance.resize(x.cols());
  nearest.resize(x.cols());
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    Eigen::Index k = 0;
    distance(i) = (c.colwise() - x.col(i)).colwise().squaredNorm().minCoeff(&k);
    nearest(i) = static_cast<int>(k);
  }
}

}  // namespace

TrainedCentroids train_kmeans(const FeatureTable& train,
                              const modelkit::Standardization& standardization,
                              const KMeansOptions& options) {
  const std::size_t k = options.clusters;
  if (k == 0 || k > modelkit::kMaxCentroids) {
    throw std::invalid_argument("clusters must be 1.." + std::to_string(modelkit::kMaxCentroids));
  }
  if (train.rows() < k) {
    throw std::invalid_argument(std::to_string(train.rows()) + " training windows for " +
                                std::to_string(k) + " clusters: give more data or fewer clusters");
  }
  const auto depth = static_cast<Eigen::Index>(train.width);
  const auto n = static_cast<Eigen::Index>(train.rows());
  Matrix x(depth, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const std::vector<float> z = modelkit::standardized(
        standardization,
        std::span<const float>(train.row(static_cast<std::size_t>(i)), train.width));
    for (Eigen::Index f = 0; f < depth; ++f)
      x(f, i) = z[static_cast<std::size_t>(f)];
  }

  std::mt19937 rng(options.seed);
  TrainedCentroids best;
  best.inertia = std::numeric_limits<float>::infinity();
  Matrix best_c;
  Eigen::VectorXf distance;
  Eigen::VectorXi nearest;
  for (std::size_t restart = 0; restart < std::max<std::size_t>(options.restarts, 1); ++restart) {
    // k-means++: each next centre drawn with probability proportional to D(x)^2.
    Matrix c(depth, static_cast<Eigen::Index>(k));
    std::uniform_int_distribution<Eigen::Index> first(0, n - 1);
    c.col(0) = x.col(first(rng));
    for (Eigen::Index j = 1; j < static_cast<Eigen::Index>(k); ++j) {
      assign(x, c.leftCols(j), distance, nearest);
      std::discrete_distribution<Eigen::Index> pick(distance.data(), distance.data() + n);
      c.col(j) = x.col(pick(rng));
    }
    std::size_t iterations = 0;
    for (; iterations < options.max_iterations; ++iterations) {
      assign(x, c, distance, nearest);
      Matrix sum = Matrix::Zero(depth, static_cast<Eigen::Index>(k));
      Eigen::VectorXf count = Eigen::VectorXf::Zero(static_cast<Eigen::Index>(k));
      for (Eigen::Index i = 0; i < n; ++i) {
        sum.col(nearest(i)) += x.col(i);
        count(nearest(i)) += 1.0f;
      }
      Matrix next = c;
      for (Eigen::Index j = 0; j < static_cast<Eigen::Index>(k); ++j) {
        if (count(j) > 0.0f) {
          next.col(j) = sum.col(j) / count(j);
        } else {  // an empty cluster takes the window farthest from its centre
          Eigen::Index far = 0;
          distance.maxCoeff(&far);
          next.col(j) = x.col(far);
          distance(far) = 0.0f;
        }
      }
      const float moved = (next - c).squaredNorm();
      c = next;
      if (moved < 1e-10f) break;
    }
    assign(x, c, distance, nearest);
    const float inertia = distance.mean();
    if (inertia < best.inertia) {
      best.inertia = inertia;
      best.iterations = iterations;
      best_c = c;
    }
  }
  best.model.standardization = standardization;
  best.model.depth = train.width;
  best.model.centroids.resize(k * train.width);
  for (std::size_t j = 0; j < k; ++j)
    for (std::size_t f = 0; f < train.width; ++f)
      best.model.centroids[j * train.width + f] =
          best_c(static_cast<Eigen::Index>(f), static_cast<Eigen::Index>(j));
  return best;
}

}  // namespace spindle::trainer
