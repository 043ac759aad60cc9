# -*- coding: utf-8 -*-
"""
@article{SanchezGarcia2020,
title = "Micrograph{C}leaner: A python package for cryo-{EM} micrograph cleaning using deep learning",
journal = "Journal of Structural Biology",
volume = "210",
number = "1",
pages = "107498",
year = "2020",
doi = "10.1016/j.jsb.2020.107498",
url = "https://doi.org/10.1016/j.jsb.2020.107498",
author = "Sanchez-Garcia, Ruben and Segura, Joan and Maluenda, David and Sorzano, C. O. S. and Carazo, J. M.",
}
"""
