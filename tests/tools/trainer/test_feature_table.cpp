// spindle::trainer feature tables: what write_csv writes reads back the same; the gateway's
// export (other column order, fewer columns) reads; bad files are refused naming the place.
#include "spindle/trainer/feature_table.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "spindle/features/feature_extractor.hpp"

namespace spindle::trainer {
namespace {

std::string feature_header() {
  std::string header;
  for (std::size_t f = 0; f < 45; ++f)
    header.append(",").append(features::feature_name(f));
  return header;
}

std::string feature_row(float base) {
  std::string row;
  for (std::size_t f = 0; f < 45; ++f)
    row.append(",").append(std::to_string(base + static_cast<float>(f)));
  return row;
}

std::string error_of(const std::string& text) {
  std::istringstream in(text);
  try {
    (void)read_csv(in, "data.csv");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(FeatureTable, WhatWriteCsvWritesReadsBackTheSame) {
  FeatureTable table;
  table.width = 45;
  for (int r = 0; r < 3; ++r) {
    for (std::size_t f = 0; f < 45; ++f)
      table.values.push_back(0.1f * static_cast<float>(r) - 3.25e-4f * static_cast<float>(f));
    WindowInfo info;
    info.device = "pump-7";
    info.label = "healthy";
    info.fault = "none";
    info.severity = 0.0f;
    info.shaft_hz = 24.5f;
    info.seed = 11;
    info.window = r;
    table.info.push_back(info);
  }
  std::stringstream io;
  write_csv(table, io);
  const FeatureTable back = read_csv(io, "table.csv");
  ASSERT_EQ(back.rows(), 3u);
  EXPECT_EQ(back.values, table.values);
  EXPECT_EQ(back.info[2].device, "pump-7");
  EXPECT_EQ(back.info[2].fault, "none");
  EXPECT_EQ(back.info[2].seed, 11);
  EXPECT_EQ(back.info[2].window, 2);
  EXPECT_FLOAT_EQ(back.info[2].shaft_hz, 24.5f);
}

TEST(FeatureTable, ReadsTheGatewaysExportWithUnknownGroundTruth) {
  std::istringstream in("window,device,label" + feature_header() + "\n0,node-a,healthy" +
                        feature_row(1.0f) + "\n1,node-a,healthy" + feature_row(2.0f) + "\n");
  const FeatureTable table = read_csv(in, "export.csv");
  ASSERT_EQ(table.rows(), 2u);
  EXPECT_FLOAT_EQ(table.row(1)[44], 46.0f);
  EXPECT_EQ(table.info[0].label, "healthy");
  EXPECT_EQ(table.info[0].fault, "unknown");
  EXPECT_EQ(table.info[0].seed, -1);
  EXPECT_TRUE(std::isnan(table.info[0].shaft_hz));
}

TEST(FeatureTable, RefusesFilesThatAreNotFeatureTablesNamingWhere) {
  EXPECT_NE(error_of("").find("data.csv:1: empty file"), std::string::npos);
  EXPECT_NE(error_of("label,x_rms\nhealthy,1\n").find("no column x_peak"), std::string::npos);
  const std::string header = "label" + feature_header() + "\n";
  EXPECT_NE(error_of(header + "a,1\n").find("data.csv:2: 2 cells, the header has 46"),
            std::string::npos);
  std::string row = "a" + feature_row(0.0f);
  row.replace(row.find(",5.0"), 4, ",nan");
  EXPECT_NE(error_of(header + row + "\n").find("column x_centroid: 'nan"), std::string::npos);
}

TEST(FeatureTable, SelectAndAppendKeepRowsAndTheirInfoTogether) {
  FeatureTable a;
  a.width = 2;
  a.values = {1, 2, 3, 4, 5, 6};
  a.info.resize(3);
  a.info[2].window = 7;
  const FeatureTable picked = a.select({2, 0});
  EXPECT_EQ(picked.values, (std::vector<float>{5, 6, 1, 2}));
  EXPECT_EQ(picked.info[0].window, 7);
  FeatureTable b = picked;
  b.append(a);
  EXPECT_EQ(b.rows(), 5u);
  FeatureTable other;
  other.width = 3;
  other.values = {1, 2, 3};
  other.info.resize(1);
  EXPECT_THROW(b.append(other), std::invalid_argument);
}

}  // namespace
}  // namespace spindle::trainer
