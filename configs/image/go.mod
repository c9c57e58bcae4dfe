// Module image writes unloop's container image (`make image`). A module of
// its own, as configs/packaging is: the product's module stays as it is.
module github.com/unloop/unloop/configs/image

go 1.26.0
